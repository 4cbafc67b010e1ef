# Shared part of the cross toolchain files: Debian's cross compilers (g++-<triple>) and
# qemu-user-static as CMake's emulator, so ctest and catch_discover_tests run target binaries.
# The including file sets PTUN_CROSS_TRIPLE, PTUN_CROSS_QEMU and CMAKE_SYSTEM_PROCESSOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${PTUN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${PTUN_CROSS_TRIPLE}-g++)
# Binaries are static; -L only matters for a dynamic one run by hand.
set(CMAKE_CROSSCOMPILING_EMULATOR ${PTUN_CROSS_QEMU};-L;/usr/${PTUN_CROSS_TRIPLE})
# No CMAKE_FIND_ROOT_PATH: nothing is searched for the target (libuv, libmnl, mbedTLS and lwIP
# are built from source, header-only libraries come from the host: see the top CMakeLists.txt).
