# The two commands: `make demo` and `make test`. Each installs what it needs first (Debian, as root).
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build build-asan demo test test-fast format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > /dev/null
	@cmake --build build -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything (tests run in it too).
build-asan: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSQLTAIL_SANITIZE=ON > /dev/null
	@cmake --build build-asan -j $(JOBS)

demo: build
	@scripts/demo.sh

test: build build-asan
	@scripts/test.sh

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan .run
