# Thin wrapper over CMake/CTest: every target installs what it needs first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECS  ?= 60
CMAKE_FLAGS ?= -DPTUN_WERROR=ON

.PHONY: all deps configure build deb test test-unit test-e2e test-asan test-tsan test-e2e-asan demo fuzz fuzz-replay fuzz-campaign bench clean \
        static cross cross-check cross-configure cross-test size

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The Debian package from $(BUILD): $(BUILD)/ptun_VERSION_ARCH.deb (cmake/install.cmake).
# Only what the package holds is built (cmake/install.cmake: no install-time rebuild of everything).
deb: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target ptun ptun_man
	cd $(BUILD) && cpack -G DEB

# The whole suite: unit tests and end-to-end tests in network namespaces (root; else skipped).
test: build
	bash scripts/run-tests.sh $(BUILD)

test-unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

test-e2e: build
	ctest --test-dir $(BUILD) -L e2e --output-on-failure

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer, with leak detection. clang, not
# g++: g++ 12's ASan instrumentation defeats the sibling-call optimisation that symmetric coroutine
# transfer relies on (see ../shared/DEPENDENCIES.md), so long await chains would overflow the stack.
# Warnings are errors in the g++ build; clang's extra warnings do not fail the sanitizer build.
ASAN_CMAKE = CC=clang CXX=clang++ cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPTUN_SANITIZE=ON -DPTUN_WERROR=OFF
test-asan: deps
	$(ASAN_CMAKE)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(BUILD_ASAN) -L unit --output-on-failure -j $(JOBS)

# The unit tests of the modules whose code runs on more than one thread (the lease writer, the
# loops and their hand-offs) under clang's ThreadSanitizer: any data race fails the run. Records
# are sealed by mbedTLS there (built from source, so instrumented): a cipher context used by the
# loop and the tx thread at once is then a reported race, where inside OpenSSL it would not be seen.
BUILD_TSAN ?= build-tsan
TSAN_TESTS  = test_core test_datapath test_server
test-tsan: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTUN_SANITIZE_THREAD=ON -DPTUN_WERROR=OFF -DPTUN_OPENSSL_AEAD=OFF
	cmake --build $(BUILD_TSAN) -j $(JOBS) --target $(TSAN_TESTS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir $(BUILD_TSAN) -L unit -R '^(core|datapath|server):' --output-on-failure -j $(JOBS)

# The end-to-end tests against the ASan+UBSan ptun (root; any sanitizer report fails).
test-e2e-asan: deps
	$(ASAN_CMAKE)
	cmake --build $(BUILD_ASAN) -j $(JOBS) --target ptun ptun-load
	bash scripts/run-e2e-asan.sh $(BUILD_ASAN)

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

# A campaign: every target (or FUZZ_TARGETS="dns packet") for FUZZ_SECS each, one at a time; new
# coverage is merged into fuzz/corpus and executions are added up in fuzz/executions.tsv (commit both).
fuzz-campaign: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTUN_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	bash scripts/fuzz-campaign.sh $(BUILD_FUZZ) $(FUZZ_SECS) $(FUZZ_TARGETS)

bench: build
	bash bench/run.sh $(BUILD)/ptun

# Static, stripped binaries for routers: build-static/dist/ptun (x86-64) and
# build-cross-TARGET/dist/ptun; `make cross-test TARGET=...` runs the unit tests under qemu-user and
# replays the fuzz seed corpora through the target's build (fuzz/replay.cmake).
# See README.md, "Routers / cross builds".
CROSS_TARGETS = aarch64 armhf mipsel mips
STATIC_CMAKE  = -DCMAKE_BUILD_TYPE=MinSizeRel -DPTUN_STATIC=ON -DPTUN_WERROR=ON
BUILD_CROSS   = build-cross-$(TARGET)

static: deps
	cmake -S . -B build-static $(STATIC_CMAKE)
	cmake --build build-static -j $(JOBS) --target ptun
	@ls -l build-static/dist/ptun

cross-check:
	@case " $(CROSS_TARGETS) " in *" $(TARGET) "*) ;; \
	  *) echo "make cross: TARGET=$(TARGET) unknown; targets: $(CROSS_TARGETS)" >&2; exit 2 ;; esac

cross-configure: cross-check
	@bash scripts/install-deps.sh cross
	cmake -S . -B $(BUILD_CROSS) $(STATIC_CMAKE) -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/$(TARGET).cmake

cross: cross-configure
	cmake --build $(BUILD_CROSS) -j $(JOBS) --target ptun
	@ls -l $(BUILD_CROSS)/dist/ptun

cross-test: cross-configure
	cmake --build $(BUILD_CROSS) -j $(JOBS)
	ctest --test-dir $(BUILD_CROSS) -L 'unit|fuzz-replay' --output-on-failure -j $(JOBS)

size:
	bash bench/size.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
