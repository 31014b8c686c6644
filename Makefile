# qparity: the two Quick start commands are `make demo` and `make test`. Each installs missing Debian
# packages first through scripts/install-deps.sh (idempotent; fast when everything is present).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps deps-test deps-bench deps-fuzz build test test-sanitize demo bench fuzz fuzz-build fuzz-ci clean

all: build

deps:
	@scripts/install-deps.sh build
deps-test:
	@scripts/install-deps.sh test
deps-bench:
	@scripts/install-deps.sh bench
deps-fuzz:
	@scripts/install-deps.sh fuzz

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: deps-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# Every test that does not link libtorch, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize: deps-test
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DQPARITY_WITH_TORCH=OFF -DQPARITY_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

demo: build
	scripts/demo.sh $(BUILD)/qparity out/demo

bench: deps-bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DQPARITY_BENCH=ON $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD)

# libFuzzer harnesses (fuzz/, clang + ASan + UBSan) in $(BUILD_FUZZ). `make fuzz` runs each for FUZZ_SECONDS on a
# copy of its corpus (fuzz/corpus is never written); findings land in fuzz-findings/<harness>/.
fuzz-build: deps-fuzz
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQPARITY_FUZZ=ON \
	  -DQPARITY_WITH_TORCH=OFF -DQPARITY_TESTS=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# CI: the same harnesses, reproducible (fixed seed), a bounded time each.
fuzz-ci: fuzz-build
	fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS) -seed=1

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
