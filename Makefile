# Doppel — the two commands of the quick start are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
# ccache speeds rebuilds where the machine has it; nothing depends on it.
CCACHE := $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
CMAKE_FLAGS += -DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE) -DCMAKE_C_COMPILER_LAUNCHER=$(CCACHE)
endif
BENCHES ?= ingest store estimate nab cmapss control

.PHONY: setup configure build build-all test-peers demo test test-asan test-e2e fuzz-smoke bench web clean

setup:
	@./scripts/setup

configure:
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS) >/dev/null

build: configure web
	@cmake --build $(BUILD) -j $(JOBS) --target doppel

build-all: configure web test-peers
	@cmake --build $(BUILD) -j $(JOBS)

# Protocol peers the tests start (node-opcua's server for the OPC UA adapter tests).
tests/opcua/node_modules/.package-lock.json: tests/opcua/package-lock.json
	npm ci --prefix tests/opcua --no-audit --no-fund --loglevel=error

test-peers: tests/opcua/node_modules/.package-lock.json

# The dashboard (web/, TypeScript + Vite) -> web/dist, served by doppel at /.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web: web/node_modules/.package-lock.json
	@cd web && npm run --silent build

demo: setup build
	./$(BUILD)/doppel demo

# The whole suite: unit and integration tests, then the sanitizer run and the fuzz smoke run.
test: setup build-all
	cd $(BUILD) && ctest -j 2 --output-on-failure --timeout 300
	$(MAKE) test-e2e
	$(MAKE) test-asan
	$(MAKE) fuzz-smoke

# The dashboard in a real Chromium against a running `doppel demo`.
test-e2e:
	node tests/e2e/run.mjs --bin $(BUILD)/doppel

# The unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer. Excluded: the
# real-process integration suites, and the two 120-filter NEES Monte Carlo tests (2 s each in
# RelWithDebInfo, over 5 min in a Debug sanitizer build; both are named TruthAccuracy.Nees*); the
# estimators run under the sanitizers in their other tests.
test-asan:
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDOPPEL_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -j 2 --output-on-failure --timeout 600 -E '^Integration|^TruthAccuracy\.Nees'

# Every libFuzzer target under fuzz/ for a few seconds each (clang).
fuzz-smoke:
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DDOPPEL_FUZZ=ON -DDOPPEL_TESTS=OFF -DDOPPEL_WERROR=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@./scripts/fuzz-smoke build-fuzz 10

bench: setup build
	@for b in $(BENCHES); do echo "== doppel bench $$b"; ./$(BUILD)/doppel bench $$b || exit 1; done

clean:
	rm -rf $(BUILD) build-asan build-fuzz
