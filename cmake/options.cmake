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
