# Thin wrapper over CMake/CTest: every target installs what it needs first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECS  ?= 60
CMAKE_FLAGS ?= -DPTUN_WERROR=ON

.PHONY: all deps configure build test test-unit test-e2e test-asan demo fuzz fuzz-replay bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite: unit tests and end-to-end tests in network namespaces (root; else skipped).
test: build
	bash scripts/run-tests.sh $(BUILD)

test-unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

test-e2e: build
	ctest --test-dir $(BUILD) -L e2e --output-on-failure

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPTUN_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(BUILD_ASAN) -L unit --output-on-failure -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/ptun

fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTUN_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	bash scripts/run-fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECS)

fuzz-replay: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTUN_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	bash scripts/run-fuzz.sh $(BUILD_FUZZ) 0

bench: build
	bash bench/run.sh $(BUILD)/ptun

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
