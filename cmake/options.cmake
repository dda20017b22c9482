# One INTERFACE target carries the warning set; every project target links it.
add_library(bsky_warnings INTERFACE)
target_compile_options(bsky_warnings INTERFACE -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Wno-missing-field-initializers)
if(BSKY_WERROR)
  target_compile_options(bsky_warnings INTERFACE -Werror)
endif()

if(BSKY_SANITIZE AND BSKY_TSAN)
  message(FATAL_ERROR "BSKY_SANITIZE and BSKY_TSAN cannot be combined")
endif()
if(BSKY_SANITIZE)
  # float-cast-overflow is not part of "undefined": a hostile header's 1e300
  # cast to an integer is exactly the UB these builds must catch.
  add_compile_options(-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined,float-cast-overflow)
endif()
if(BSKY_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(BSKY_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BSKY_BUILD_FUZZERS needs clang (CXX=clang++)")
  endif()
  # Instrument the library code too, so coverage guides the fuzzer through it.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined,float-cast-overflow -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined,float-cast-overflow)
endif()
