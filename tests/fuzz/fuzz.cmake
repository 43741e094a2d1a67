# libFuzzer harnesses for the file readers (tests/fuzz/fuzz_*.c), built with clang's
# -fsanitize=fuzzer,address,undefined straight from the core sources they need (the main build
# may use another compiler). ctest runs each for a short bounded pass over the committed seeds
# (label "fuzz"); scripts/fuzz.sh runs the long ones. New inputs go to build/fuzz/corpus-NAME,
# findings to build/fuzz/: neither is in the source tree.
find_program(TIDE_CLANG NAMES clang-14 clang)
if(NOT TIDE_CLANG)
  message(STATUS "clang not found: the fuzz harnesses are not built (apt-get install clang libclang-rt-14-dev)")
  return()
endif()

set(fuzz_dir ${CMAKE_BINARY_DIR}/fuzz)
file(GLOB fuzz_tensor_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/core/tensor/*.c)
set(fuzz_io_sources ${CMAKE_SOURCE_DIR}/core/io/npy.c ${CMAKE_SOURCE_DIR}/core/io/idx.c
    ${CMAKE_SOURCE_DIR}/core/io/safetensors.c ${CMAKE_SOURCE_DIR}/core/io/st_header.c
    ${CMAKE_SOURCE_DIR}/core/io/files.c)
set(fuzz_flags -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -I${CMAKE_SOURCE_DIR}/core)
set(fuzz_targets)
foreach(name npy idx safetensors manifest)
  set(src ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  if(name STREQUAL "manifest")
    set(extra -DTIDE_SOURCE_DIR="${CMAKE_SOURCE_DIR}" ${LUA_CFLAGS} ${LUA_LDFLAGS})
    set(deps ${src} ${CMAKE_SOURCE_DIR}/scripts/tide/checkpoint/manifest.lua)
  else()
    set(extra ${fuzz_tensor_sources} ${fuzz_io_sources} -lz -lm)
    set(deps ${src} ${fuzz_tensor_sources} ${fuzz_io_sources})
  endif()
  add_custom_command(OUTPUT ${fuzz_dir}/fuzz_${name}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${fuzz_dir}/corpus-${name}
    COMMAND ${TIDE_CLANG} ${fuzz_flags} ${src} ${extra} -o ${fuzz_dir}/fuzz_${name}
    DEPENDS ${deps} COMMENT "fuzz harness fuzz_${name}" VERBATIM)
  list(APPEND fuzz_targets ${fuzz_dir}/fuzz_${name})
  # a few seconds over the seeds and what they lead to; a finding fails the test
  add_test(NAME fuzz_${name}
    COMMAND ${fuzz_dir}/fuzz_${name} -max_total_time=4 -rss_limit_mb=2048 -timeout=10
            -artifact_prefix=${fuzz_dir}/ ${fuzz_dir}/corpus-${name}
            ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 120)
endforeach()
add_custom_target(fuzzers ALL DEPENDS ${fuzz_targets})
