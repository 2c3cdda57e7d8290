# `cmake --install`: the mqblk command, its man pages and bash completion, the ublk udev
# rule, and the library a driver is written against (the public headers, the engine and
# the built-in drivers as static libraries) with a CMake package (find_package(mqblk),
# target mqblk::mqblk) and a pkg-config file (mqblk.pc). Every path is relative to the
# prefix given at install time (`cmake --install build --prefix DIR`), so the installed
# tree can be moved.
#
# What a program links: mqblk::mqblk = the engine (mqblk::engine: tag sets, queues, the
# registry, the engine's attributes) and every built-in driver (mqblk::drivers, linked
# whole: each registers itself and nothing names it). A program with its own driver only
# and no built-in one links mqblk::engine. The frontends (NBD, ublk) are not a library yet:
# their headers are private (src/), only the mqblk command serves devices.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS mqblk RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set_target_properties(mqblk_engine PROPERTIES EXPORT_NAME engine)
set_target_properties(mqblk_drivers PROPERTIES EXPORT_NAME drivers)
set_target_properties(mqblk_core PROPERTIES EXPORT_NAME mqblk)
target_include_directories(mqblk_engine PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
install(TARGETS mqblk_engine mqblk_drivers mqblk_core EXPORT mqblkTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mqblk DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(MQBLK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mqblk)
install(EXPORT mqblkTargets NAMESPACE mqblk:: DESTINATION ${MQBLK_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mqblkConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/mqblkConfig.cmake
                              INSTALL_DESTINATION ${MQBLK_CMAKE_DIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mqblkConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mqblkConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/mqblkConfigVersion.cmake
        DESTINATION ${MQBLK_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}), so it
# holds wherever the tree is installed. The drivers' archive is linked whole, before the
# engine it needs; liburing and fmt come through Requires (static archives: their
# libraries are needed by every program, not only by static ones).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MQBLK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MQBLK_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH MQBLK_PC_UP "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" MQBLK_PC_UP "${MQBLK_PC_UP}")
  set(MQBLK_PC_PREFIX "\${pcfiledir}/${MQBLK_PC_UP}")
  set(MQBLK_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
set(MQBLK_PC_EXTRA_LIBS "")
if(MQBLK_WITH_RBD)
  set(MQBLK_PC_EXTRA_LIBS "${RBD_LIBRARY} ${RADOS_LIBRARY}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/mqblk.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mqblk.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mqblk.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages and bash completion, made by the mqblk just built from its own subcommands
# and the drivers' registrations (src/cli/cmd_man.cpp), so that they cannot drift.
if(MQBLK_BUILD_MAN)
  set(MQBLK_DOC_DIR ${CMAKE_BINARY_DIR}/doc)
  add_custom_command(
    OUTPUT ${MQBLK_DOC_DIR}/stamp
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${MQBLK_DOC_DIR}/man ${MQBLK_DOC_DIR}/mqblk.bash
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MQBLK_DOC_DIR}
    COMMAND $<TARGET_FILE:mqblk> man --out ${MQBLK_DOC_DIR}/man
    COMMAND $<TARGET_FILE:mqblk> completion --out ${MQBLK_DOC_DIR}/mqblk.bash
    COMMAND ${CMAKE_COMMAND} -E touch ${MQBLK_DOC_DIR}/stamp
    DEPENDS mqblk
    COMMENT "man pages and bash completion from mqblk's subcommands and drivers"
    VERBATIM)
  add_custom_target(mqblk_doc ALL DEPENDS ${MQBLK_DOC_DIR}/stamp)
  install(DIRECTORY ${MQBLK_DOC_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR})
  install(FILES ${MQBLK_DOC_DIR}/mqblk.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME mqblk)
endif()

# The udev rule for unprivileged ublk devices (docs/ublk.md), with the installed mqblk's
# path in its RUN+=, written at install time (the prefix is known only then). Its default
# place, PREFIX/lib/udev/rules.d, is where udev reads a distribution's rules when the
# prefix is /usr; with another prefix, copy it to /etc/udev/rules.d (or configure
# -DMQBLK_INSTALL_UDEVRULESDIR=/etc/udev/rules.d). Only builds with the ublk frontend
# have `mqblk chown-dev`, the rule's action.
set(MQBLK_INSTALL_UDEVRULESDIR "lib/udev/rules.d" CACHE STRING
    "where cmake --install puts 99-mqblk-ublk.rules (relative: under the prefix)")
if(TARGET mqblk_ublk)
  install(CODE "
    set(rules_dir \"${MQBLK_INSTALL_UDEVRULESDIR}\")
    if(NOT IS_ABSOLUTE \"\${rules_dir}\")
      set(rules_dir \"\${CMAKE_INSTALL_PREFIX}/\${rules_dir}\")
    endif()
    set(bindir \"${CMAKE_INSTALL_BINDIR}\")
    if(NOT IS_ABSOLUTE \"\${bindir}\")
      set(bindir \"\${CMAKE_INSTALL_PREFIX}/\${bindir}\")
    endif()
    file(READ \"${PROJECT_SOURCE_DIR}/data/udev/99-mqblk-ublk.rules\" rule)
    string(REPLACE \"/usr/local/bin/mqblk\" \"\${bindir}/mqblk\" rule \"\${rule}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${rules_dir}/99-mqblk-ublk.rules\")
    file(WRITE \"\$ENV{DESTDIR}\${rules_dir}/99-mqblk-ublk.rules\" \"\${rule}\")
  ")
endif()
