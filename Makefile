# edumon build. GNU make. Objects go to build/ (or build/san/ with SANITIZE=...).
#   make            build edumond and edumon
#   make run        set up a local PostgreSQL if needed and run edumond
#   make test       unit + integration tests (starts its own PostgreSQL)
#   make bench      load benchmark against a local PostgreSQL
#   make SANITIZE=address,undefined test

CC      ?= cc
PKGS    := libevent libevent_openssl libpq libcjson openssl libcurl
SANITIZE ?=

ifeq ($(SANITIZE),)
BUILD   := build
else
BUILD   := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_LIBS  := $(shell pkg-config --libs criterion 2>/dev/null)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wno-format-nonliteral -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
           -Ilib -I$(BUILD)/gen $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS  := $(PKG_LIBS) -lm

LIB_SRC  := $(sort $(wildcard lib/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o
MIGRATIONS := $(sort $(wildcard schema/[0-9]*.sql))

PROGS    := $(BUILD)/edumond $(BUILD)/edumon $(BUILD)/edumon-bench
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all clean test test-unit test-integration run bench fuzz format format-check \
        compile_commands.json deps valgrind-unit
all: $(PROGS)

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/cmd/%.o: cmd/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The migrations are compiled into the binaries so that one installed
# binary can bring any database up to date.
$(BUILD)/gen/migrations.c: $(MIGRATIONS) tools/embed-sql.sh
	@mkdir -p $(dir $@)
	sh tools/embed-sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libedumon.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/edumond: $(BUILD)/cmd/edumond/main.o $(BUILD)/libedumon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/edumon: $(BUILD)/cmd/edumon/main.o $(BUILD)/libedumon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/edumon-bench: $(BUILD)/bench/loadgen.o $(BUILD)/bench/engine.o $(BUILD)/libedumon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test-only helpers linked into every test binary: testlib (PostgreSQL, the
# daemon, a blocking HTTP client), receiver (HTTP receivers on loopback, in
# a thread of the test) and alertmanager (a real Prometheus Alertmanager).
TEST_HELPERS := $(BUILD)/tests/testlib.o $(BUILD)/tests/receiver.o $(BUILD)/tests/alertmanager.o

$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) $(BUILD)/libedumon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -Wno-missing-prototypes -o $@ $< $(TEST_HELPERS) \
	    $(BUILD)/libedumon.a $(LDFLAGS) $(LDLIBS) $(CRIT_LIBS)

$(TEST_HELPERS): $(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -c -o $@ $<

deps:
	@sh tools/install-deps.sh

# Unit tests link only the pure modules; integration tests (test_it_*) start
# their own PostgreSQL and the real daemon.
UNIT_TESTS := $(filter-out $(BUILD)/tests/test_it_%,$(TESTS))
IT_TESTS   := $(filter $(BUILD)/tests/test_it_%,$(TESTS))

# test and run install missing Debian packages first, then build in a
# sub-make so that pkg-config is asked again once the packages are there.
test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@sh tools/run-tests.sh $(BUILD) $(UNIT_TESTS) $(IT_TESTS)

test-unit: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS)
	@sh tools/run-tests.sh $(BUILD) $(UNIT_TESTS)

test-integration: deps
	@$(MAKE) --no-print-directory all $(IT_TESTS)
	@sh tools/run-tests.sh $(BUILD) $(IT_TESTS)

# The tests of the test harness itself (the loopback receiver, the
# Alertmanager runner) run plainly and under the sanitizers, not here:
# valgrind adds minutes to them and nothing of lib/ is under test.
VALGRIND_TESTS := $(filter-out $(BUILD)/tests/test_receiver $(BUILD)/tests/test_alertmanager,\
                    $(UNIT_TESTS))
valgrind-unit: deps
	@$(MAKE) --no-print-directory $(VALGRIND_TESTS)
	@sh tools/run-tests.sh --valgrind $(BUILD) $(VALGRIND_TESTS)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

# Long fuzzing runs: every libFuzzer harness of tests/fuzz for FUZZ_SECONDS
# each (CI runs them for 20 s). Findings are kept under build/fuzz/.
FUZZ_SECONDS ?= 600
fuzz: deps
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i lib/*.[ch] cmd/*/*.c tests/*.[ch] bench/*.c

format-check:
	clang-format --dry-run --Werror lib/*.[ch] cmd/*/*.c tests/*.[ch] bench/*.c

compile_commands.json:
	$(MAKE) clean && bear -- $(MAKE) all $(TESTS)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
