# Finds Eigen 3.4 or any 5.x and provides Eigen3::Eigen. Eigen 3.4's version file only accepts
# requests of major version 3, so a plain request is the fallback and the version is checked here.
if(NOT TARGET Eigen3::Eigen)
  find_package(Eigen3 3.4...<6 QUIET NO_MODULE)
  if(NOT Eigen3_FOUND)
    find_package(Eigen3 QUIET NO_MODULE)
  endif()
  if(NOT Eigen3_FOUND)
    message(FATAL_ERROR "monarch needs Eigen 3.4 or 5.x; none was found. On Debian: apt-get install libeigen3-dev")
  endif()
  if(Eigen3_VERSION VERSION_LESS 3.4 OR Eigen3_VERSION VERSION_GREATER_EQUAL 6)
    message(FATAL_ERROR "monarch needs Eigen 3.4 or 5.x, found Eigen ${Eigen3_VERSION}")
  endif()
endif()
