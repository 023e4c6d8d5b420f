# Script mode: compiles SOURCE with -DCASE=1..CASES (syntax only) and fails unless every case
# fails to compile with exactly one error, a static assertion.
set(args -std=c++17 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND args -I${dir})
endforeach()
foreach(case RANGE 1 ${CASES})
  execute_process(COMMAND ${CXX} ${args} -DCASE=${case} ${SOURCE} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  string(REGEX MATCHALL "error:" errors "${out}")
  list(LENGTH errors count)
  if(rc EQUAL 0 OR NOT count EQUAL 1 OR NOT out MATCHES "static.assert")
    message(FATAL_ERROR "case ${case}: expected exactly one error, a static assertion; got ${count}:\n${out}")
  endif()
endforeach()
