# Script mode: builds tests/consumer/project against monarch, either installed to a scratch prefix
# (MODE=find_package) or pulled in with add_subdirectory (MODE=add_subdirectory), then runs it.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()
set(consumer_args -DCMAKE_CXX_COMPILER=${CXX} -DMONARCH_SOURCE_DIR=${SOURCE_DIR} -DMODE=${MODE})
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/monarch-build -G ${GENERATOR}
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix -DMONARCH_BUILD_TESTS=OFF -DMONARCH_BUILD_BENCHMARKS=OFF
      -DMONARCH_BUILD_EXAMPLES=OFF -DMONARCH_INSTALL=ON)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/monarch-build)
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project -B ${WORK_DIR}/build -G ${GENERATOR} ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(EXPECT_IO)
  run(${WORK_DIR}/build/consumer_io)
endif()
