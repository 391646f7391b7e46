// The one translation unit that compiles Boost.URL's implementation into the core
// (header-only mode), so native and wasm builds link it the same way.
#include <boost/url/src.hpp>
