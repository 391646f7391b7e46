# Flags shared by every target of ours.
add_library(parley_options INTERFACE)
if(EMSCRIPTEN)
  # Native wasm exception handling: smaller and faster than the JS-emulated kind; node >= 16
  # and every current browser run it. The core never lets an exception cross its API.
  target_compile_options(parley_options INTERFACE -fwasm-exceptions)
  target_link_options(parley_options INTERFACE -fwasm-exceptions)
else()
  target_compile_options(parley_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                         -Wconversion -Wno-sign-conversion)
endif()
if(PARLEY_SANITIZE)
  target_compile_options(parley_options INTERFACE -fsanitize=${PARLEY_SANITIZE}
                         -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(parley_options INTERFACE -fsanitize=${PARLEY_SANITIZE})
endif()

# Flags for the test suites' own code (not the code under test, not the benchmarks' load
# clients). In a Release build it compiles at -O1: the suites spend their time on sockets,
# real-time audio and child processes, not in their own code, and their Boost and Catch
# templates compile a third faster at -O1 than at -O3 (measured on unit-net.cpp: 13.5 s
# against 21.2 s). CI's release build is on its critical path (scripts/test.sh).
add_library(parley_test_options INTERFACE)
target_link_libraries(parley_test_options INTERFACE parley_options)
if(NOT EMSCRIPTEN)
  target_compile_options(parley_test_options INTERFACE $<$<CONFIG:Release>:-O1>)
endif()
