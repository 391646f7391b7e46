# Header-only dependencies, all from Debian's packages: Boost (URL, and Beast for the host),
# nlohmann/json and Catch2 v2.
#
# Natively they sit in /usr/include and need nothing. Emscripten has its own sysroot and must
# not see the rest of /usr/include (glibc's headers would shadow its libc), so for the wasm
# build we expose just these three directories through a folder of symlinks in the build tree.
add_library(parley_deps INTERFACE)
if(EMSCRIPTEN)
  set(_shim "${CMAKE_BINARY_DIR}/sysdeps")
  file(MAKE_DIRECTORY "${_shim}")
  foreach(dir boost nlohmann catch2)
    if(NOT EXISTS "/usr/include/${dir}")
      message(FATAL_ERROR "/usr/include/${dir} is missing: run scripts/setup.sh")
    endif()
    if(NOT EXISTS "${_shim}/${dir}")
      file(CREATE_LINK "/usr/include/${dir}" "${_shim}/${dir}" SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(parley_deps SYSTEM INTERFACE "${_shim}")
else()
  foreach(header boost/url.hpp nlohmann/json.hpp catch2/catch.hpp)
    if(NOT EXISTS "/usr/include/${header}")
      message(FATAL_ERROR "/usr/include/${header} is missing: run scripts/setup.sh")
    endif()
  endforeach()
endif()
# Boost.URL is compiled into the core from its header-only source (boost/url/src.hpp), the
# same way on both toolchains, so there is no libboost_url to link.
target_compile_definitions(parley_deps INTERFACE BOOST_URL_NO_LIB BOOST_ALL_NO_LIB)
