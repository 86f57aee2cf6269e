# Helpers for keyhold targets: every target gets the same warnings (errors in
# our code) and include root, so CMakeLists.txt files only list sources and
# dependencies.

set(KEYHOLD_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wformat=2
    -Wimplicit-fallthrough)
# GCC 12's -Wmaybe-uninitialized reports false positives inside libstdc++
# (std::regex, std::function) when ASan instruments them; the plain build
# keeps the warning.
if(KEYHOLD_SANITIZE)
  list(APPEND KEYHOLD_WARNINGS -Wno-maybe-uninitialized)
endif()

function(keyhold_target_defaults target)
  target_compile_options(${target} PRIVATE ${KEYHOLD_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# keyhold_library(NAME SRCS ... [DEPS ...] [PRIVATE_DEPS ...])
function(keyhold_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  keyhold_target_defaults(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# keyhold_executable(NAME SRCS ... [DEPS ...])
function(keyhold_executable name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  keyhold_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# keyhold_test(NAME SRCS ... [DEPS ...] [LABELS ...])
# One GoogleTest binary, registered with ctest as one test per TEST().
function(keyhold_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  keyhold_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
endfunction()
