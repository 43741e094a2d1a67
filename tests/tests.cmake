# Every test, discovered by file name so that adding a test never means editing this file:
#   tests/c/<folder>/test_*.c a C program linked with libtide, in the   label "c"
#                             folder of the core part it tests (names unique across folders)
#   tests/lua/*_spec.lua      busted in one lua5.4 process              label "lua"
#   tests/mpi/*_spec.lua      busted under mpirun: 1 rank, and 2 and 4 ranks over shared memory and TCP
#                             (a failure on any rank fails the test)    label "mpi"
find_program(LUA_EXE NAMES lua5.4 REQUIRED)
find_program(BUSTED_EXE NAMES busted REQUIRED)

# ENVIRONMENT is a ;-separated list, so the ; inside Lua's search paths are escaped.
string(REPLACE ";" "\\;" lua_path_escaped "${TIDE_SOURCE_LPATH};${CMAKE_SOURCE_DIR}/tests/?.lua;;")
set(TIDE_TEST_ENV
  "LUA_PATH=${lua_path_escaped}"
  "LUA_CPATH=${TIDE_BUILD_CPATH}\\;\\;"
  "TIDE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "TIDE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "TIDE_EXE=${CMAKE_BINARY_DIR}/tide"
  "TIDE_DUMP_DIR=${CMAKE_BINARY_DIR}/tide-dump"   # watchdog timeouts dump: not into the source tree
  "MPIRUN=${MPIEXEC_EXECUTABLE}"
  "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
  "OMPI_MCA_rmaps_base_oversubscribe=1"
  "OPENBLAS_NUM_THREADS=1")
if(TIDE_SANITIZE)
  # lua5.4 itself is not instrumented: preload the runtime, and keep MPI's and Lua's own
  # one-time allocations out of the leak report (tests/lsan.supp names them).
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE ASAN_LIB OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND TIDE_TEST_ENV "LD_PRELOAD=${ASAN_LIB}"
       "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
       # intercept_tls_get_addr=0: GCC 12's runtime keeps its own record of each thread's
       # dynamic TLS blocks through that interceptor, and in some processes (placement_spec,
       # random_spec: every run) the record holds a bogus block by exit ("DTLS 9 at
       # 0x5bd8-0x400006cda" with LSAN_OPTIONS=log_threads=1), whose scan kills LeakSanitizer's
       # tracer ("Tracer caught signal 11") after every spec passed. Without the record the
       # blocks are still scanned: glibc mallocs them and each thread's DTV points at them.
       "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:intercept_tls_get_addr=0"
       "TIDE_SANITIZED=1")   # specs leave out what measures speed or accuracy, not memory
endif()

file(GLOB_RECURSE C_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/c/test_*.c)
foreach(src ${C_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(TARGET ${name})
    message(FATAL_ERROR "two C tests are named ${name}: ${src} and another in tests/c/")
  endif()
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/c)   # check.h
  target_link_libraries(${name} PRIVATE tide)
  add_test(NAME c_${name} COMMAND ${name})
  set_tests_properties(c_${name} PROPERTIES LABELS c TIMEOUT 120 ENVIRONMENT "${TIDE_TEST_ENV}")
endforeach()

file(GLOB LUA_SPECS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/lua/*_spec.lua)
foreach(spec ${LUA_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  add_test(NAME lua_${name} COMMAND ${LUA_EXE} ${BUSTED_EXE} -o utfTerminal ${spec}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(lua_${name} PROPERTIES LABELS lua TIMEOUT 300 ENVIRONMENT "${TIDE_TEST_ENV}")
endforeach()

file(GLOB MPI_SPECS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/mpi/*_spec.lua)
foreach(spec ${MPI_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  foreach(np 1 2 4)
    foreach(transport shm tcp)
      if(np EQUAL 1 AND transport STREQUAL "tcp")
        continue()      # one rank sends nothing over any transport
      endif()
      # TCP over loopback only: Open MPI would otherwise pick every interface that is up, and
      # a test bed's bridge (scripts/hosts.sh) that goes away mid-run leaves a rank unable to
      # connect (seen: "bind on local address (10.77.2.1:0) failed", then a hang)
      if(transport STREQUAL "tcp")
        set(btl tcp,self --mca btl_tcp_if_include lo)
      else()
        set(btl vader,self)
      endif()
      set(test mpi_${name}_np${np}_${transport})
      add_test(NAME ${test}
               COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe -np ${np} --mca btl ${btl}
                       ${LUA_EXE} ${BUSTED_EXE} -o TAP ${spec}
               WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
      set_tests_properties(${test} PROPERTIES LABELS mpi TIMEOUT 300 PROCESSORS 2
                           ENVIRONMENT "${TIDE_TEST_ENV};TIDE_TEST_RANKS=${np}")
    endforeach()
  endforeach()
endforeach()

# Benchmarks' C twins (tests/bench/<name>.c -> build/bench/<name>): plain C against MPI and
# OpenBLAS, built with the same flags as tide, so each benchmark can report tide / C.
file(GLOB BENCH_TWINS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/bench/*.c)
foreach(src ${BENCH_TWINS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(bench_${name} ${src})
  target_link_libraries(bench_${name} PRIVATE MPI::MPI_C PkgConfig::OPENBLAS m)
  set_target_properties(bench_${name} PROPERTIES OUTPUT_NAME ${name}
                        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endforeach()

# Benchmarks that alternate tide and C calls in one process load their twin as a Lua module
# (the same tests/bench/<name>.c built with TWIN_MODULE, as <build>/bench/<name>_twin.so).
foreach(name allreduce tensor)
  add_library(${name}_twin MODULE ${CMAKE_SOURCE_DIR}/tests/bench/${name}.c)
  target_compile_definitions(${name}_twin PRIVATE TWIN_MODULE)
  target_link_libraries(${name}_twin PRIVATE MPI::MPI_C PkgConfig::OPENBLAS PkgConfig::LUA)
  set_target_properties(${name}_twin PROPERTIES PREFIX ""
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endforeach()

# Programs that embed the host (tests/host/*.c -> <build>/tests/host/<name>), run by
# tests/lua/host_spec.lua under mpirun.
file(GLOB HOST_PROGRAMS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/host/*.c)
foreach(src ${HOST_PROGRAMS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(host_${name} ${src})
  target_link_libraries(host_${name} PRIVATE tidehost)
  set_target_properties(host_${name} PROPERTIES OUTPUT_NAME ${name}
                        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/host)
endforeach()
