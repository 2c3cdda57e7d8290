# The version `mqblk --version` and `mqblk features --json` report: the project's version,
# and `git describe` of the source tree when it is a git checkout with git installed
# (a release tarball has neither and reports the project version alone). Computed when
# CMake configures; a commit re-runs the configuration (the branch's ref is a configure
# dependency), a change to the working tree alone shows only at the next configuration.
set(MQBLK_VERSION_STRING "${PROJECT_VERSION}")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --tags --always --dirty
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE mqblk_git_describe OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE mqblk_git_rc ERROR_QUIET)
  if(mqblk_git_rc EQUAL 0 AND mqblk_git_describe)
    set(MQBLK_VERSION_STRING "${PROJECT_VERSION} (git ${mqblk_git_describe})")
    execute_process(COMMAND ${GIT_EXECUTABLE} symbolic-ref -q HEAD
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE mqblk_git_ref OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    set(mqblk_git_paths HEAD)
    if(mqblk_git_ref)
      list(APPEND mqblk_git_paths ${mqblk_git_ref})
    endif()
    foreach(p ${mqblk_git_paths})
      execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --git-path ${p}
                      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                      OUTPUT_VARIABLE mqblk_git_file OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      get_filename_component(mqblk_git_file "${mqblk_git_file}" ABSOLUTE BASE_DIR ${PROJECT_SOURCE_DIR})
      if(EXISTS "${mqblk_git_file}")
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                     "${mqblk_git_file}")
      endif()
    endforeach()
  endif()
endif()
message(STATUS "mqblk version ${MQBLK_VERSION_STRING}")
