# BSKY_PYTHON: the `bsky_backfill` Python module (python/), on by default where
# Python 3 development files and pybind11 (Debian python3-dev, pybind11-dev) are
# found. Debian's own interpreter is preferred over one earlier on PATH (pyenv):
# the module is built for, and installed into, the interpreter users get from apt.
# Off under the sanitizers: an ASan/TSan extension cannot be loaded into an
# uninstrumented python3 (its runtime must come first in the process).
if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "The Python the bsky_backfill module is built for")
endif()
set(bsky_python_default OFF)
if(NOT BSKY_SANITIZE AND NOT BSKY_TSAN)
  find_package(Python3 3.9 COMPONENTS Interpreter Development.Module QUIET)
  if(Python3_FOUND)
    set(PYBIND11_FINDPYTHON ON)
    find_package(pybind11 CONFIG QUIET)
    if(pybind11_FOUND)
      set(bsky_python_default ON)
    endif()
  endif()
endif()
option(BSKY_PYTHON "Build the bsky_backfill Python module (needs python3-dev and pybind11-dev)" ${bsky_python_default})
if(BSKY_PYTHON)
  find_package(Python3 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
  set(PYBIND11_FINDPYTHON ON)
  find_package(pybind11 CONFIG REQUIRED)
  # Where `cmake --install` puts the package: the interpreter's own platlib for
  # local installs (Debian: /usr/local/lib/python3.X/dist-packages, on its sys.path).
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import sysconfig; print(sysconfig.get_path('platlib'))"
                  OUTPUT_VARIABLE bsky_python_platlib OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(BSKY_PYTHON_INSTALL_DIR "${bsky_python_platlib}" CACHE PATH "Where cmake --install puts the bsky_backfill package")
endif()
