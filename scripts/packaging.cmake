# SPDX-License-Identifier: MIT
# What `cmake --install` puts beside the programs (systemd units, manual
# pages, copyright and changelog), and the Debian packages CPack builds
# from it (README, "Install"):
#   mcpfleetd  mcpfleetd, mcpfleetctl, the hardened system unit,
#              /etc/default/mcpfleetd; its maintainer scripts (in
#              deploy/debian/) make the mcpfleet user and /var/lib/mcpfleet
#   mcpfleet   the agent and its systemd user units
# Built with `cmake --build build --target package`, or
# `cpack --config build/CPackConfig.cmake -B DIR`; tests/packages/deb.sh
# builds, lints, installs, starts and purges them.

set(MF_DEBIAN ${CMAKE_SOURCE_DIR}/deploy/debian)

install(TARGETS mcpfleetd mcpfleetctl RUNTIME DESTINATION bin
  COMPONENT mcpfleetd)
install(TARGETS mcpfleet RUNTIME DESTINATION bin COMPONENT mcpfleet)

# The units name the programs' absolute path: filled in at install time,
# for the prefix being installed to (scripts/install-units.cmake).
foreach(kind system user)
  if(kind STREQUAL "system")
    set(component mcpfleetd)
  else()
    set(component mcpfleet)
  endif()
  install(CODE "
    set(MF_SRC \"${CMAKE_SOURCE_DIR}/deploy/systemd\")
    set(MF_OUT \"${CMAKE_BINARY_DIR}/units/${kind}\")
    set(MF_KIND ${kind})
    include(\"${CMAKE_SOURCE_DIR}/scripts/install-units.cmake\")"
    COMPONENT ${component})
endforeach()

# Manual pages (docs/man/), compressed as Debian wants them.
find_program(MCPFLEET_GZIP gzip REQUIRED)
set(MF_MAN_PAGES mcpfleet.1 mcpfleetctl.1 mcpfleetd.8)
set(MF_MAN_OUT)
foreach(page IN LISTS MF_MAN_PAGES)
  configure_file(${CMAKE_SOURCE_DIR}/docs/man/${page}
    ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
    COMMAND ${MCPFLEET_GZIP} -9nf -k ${CMAKE_BINARY_DIR}/man/${page}
    DEPENDS ${CMAKE_BINARY_DIR}/man/${page}
    COMMENT "gzip ${page}")
  list(APPEND MF_MAN_OUT ${CMAKE_BINARY_DIR}/man/${page}.gz)
endforeach()
# The Debian changelog, compressed the same way.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/debian
  COMMAND ${CMAKE_COMMAND} -E copy ${MF_DEBIAN}/changelog
          ${CMAKE_BINARY_DIR}/debian/changelog.Debian
  COMMAND ${MCPFLEET_GZIP} -9nf ${CMAKE_BINARY_DIR}/debian/changelog.Debian
  DEPENDS ${MF_DEBIAN}/changelog
  COMMENT "gzip changelog.Debian")
add_custom_target(mfdocs ALL DEPENDS ${MF_MAN_OUT}
  ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)

install(FILES ${CMAKE_BINARY_DIR}/man/mcpfleet.1.gz
  DESTINATION share/man/man1 COMPONENT mcpfleet)
# mcpfleetctl's page goes with mcpfleetctl, in the mcpfleetd package.
install(FILES ${CMAKE_BINARY_DIR}/man/mcpfleetctl.1.gz
  DESTINATION share/man/man1 COMPONENT mcpfleetd)
install(FILES ${CMAKE_BINARY_DIR}/man/mcpfleetd.8.gz
  DESTINATION share/man/man8 COMPONENT mcpfleetd)
# The Debian changelog and lintian overrides only for a Debian layout
# (prefix /usr: the packages), not in /usr/local.
foreach(component mcpfleetd mcpfleet)
  install(FILES ${MF_DEBIAN}/copyright
    DESTINATION share/doc/${component} COMPONENT ${component})
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      file(INSTALL \"${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz\"
        DESTINATION \"\${CMAKE_INSTALL_PREFIX}/share/doc/${component}\"
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
      file(INSTALL \"${MF_DEBIAN}/${component}/lintian-overrides\"
        DESTINATION \"\${CMAKE_INSTALL_PREFIX}/share/lintian/overrides\"
        RENAME ${component}
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()" COMPONENT ${component})
endforeach()

# Packages from a sanitizer or fuzzing build would need the sanitizer
# runtimes and run many times slower: none are made there, and the
# package test is not registered (tests/CMakeLists.txt).
if(MCPFLEET_ASAN OR MCPFLEET_UBSAN OR MCPFLEET_FUZZ)
  set(MCPFLEET_PACKAGES OFF)
  message(STATUS "packages: none from a sanitizer or fuzzing build")
  return()
endif()

# The package version: the project's, and the Debian revision from the
# top entry of deploy/debian/changelog, which must name this version.
file(STRINGS ${MF_DEBIAN}/changelog MF_CHANGELOG_TOP LIMIT_COUNT 1)
if(NOT MF_CHANGELOG_TOP MATCHES "^mcpfleet \\(([0-9.]+)-([0-9]+)\\) ")
  message(FATAL_ERROR "deploy/debian/changelog: the first line is "
    "'${MF_CHANGELOG_TOP}', not 'mcpfleet (VERSION-REVISION) ...'")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "deploy/debian/changelog: its top entry is for "
    "${CMAKE_MATCH_1}, the project is ${PROJECT_VERSION}: add an entry")
endif()
set(CPACK_DEBIAN_PACKAGE_RELEASE ${CMAKE_MATCH_2})

# The libraries the programs load with dlopen (common/netclient.c,
# client/bridge.c) are invisible to dpkg-shlibdeps: name the Debian
# packages that hold them. And net.c runs libwebsockets on libev through
# Debian's evlib plugin, which libwebsockets loads itself.
# Off Debian (no dpkg-query), or with those libraries built by hand, no
# packages: the rest of the build does not need them.
find_program(MCPFLEET_DPKG_QUERY dpkg-query)
function(mf_deb_package_of file out)
  get_filename_component(real "${file}" REALPATH)
  set(${out} "" PARENT_SCOPE)
  execute_process(COMMAND ${MCPFLEET_DPKG_QUERY} -S "${real}"
    OUTPUT_VARIABLE owner RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND owner MATCHES "^([^:, ]+)")
    set(${out} ${CMAKE_MATCH_1} PARENT_SCOPE)
  else()
    message(STATUS "packages: none, no Debian package holds ${real}")
  endif()
endfunction()
if(NOT MCPFLEET_DPKG_QUERY)
  message(STATUS "packages: none, no dpkg-query (not Debian)")
  set(MCPFLEET_PACKAGES OFF)
  return()
endif()
find_library(MCPFLEET_CURL_LIB NAMES curl HINTS ${CURL_LIBRARY_DIRS})
mf_deb_package_of("${MCPFLEET_LWS_LIB}" MF_DEB_LWS)
mf_deb_package_of("${MCPFLEET_CURL_LIB}" MF_DEB_CURL)
if(NOT MF_DEB_LWS OR NOT MF_DEB_CURL)
  set(MCPFLEET_PACKAGES OFF)
  return()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mcpfleet)
set(CPACK_PACKAGE_VENDOR mcpfleet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mcpfleet maintainers <maintainers@mcpfleet.dev>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The install step sees the prefix itself (not the staging directory), so
# scripts/install-units.cmake puts the units where Debian wants them.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE
  OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL mcpfleetd mcpfleet)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SOURCE mcpfleet)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://github.com/mcpfleet/mcpfleet)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_MCPFLEETD_PACKAGE_NAME mcpfleetd)
set(CPACK_DEBIAN_MCPFLEETD_PACKAGE_SECTION admin)
# (mcpfleetd links libwebsockets, so shlibdeps names it for mcpfleetctl.)
set(CPACK_DEBIAN_MCPFLEETD_PACKAGE_DEPENDS "adduser, libwebsockets-evlib-ev")
set(CPACK_COMPONENT_MCPFLEETD_DESCRIPTION
"control plane for fleets of MCP server configurations
mcpfleetd pushes signed catalogues of MCP servers to enrolled workstations
over mutual-TLS websockets, with per-user grants, sealed credentials, an
audit log and one-command offboarding, and serves an admin API and a web
console. The store is SQLite or PostgreSQL.

This package holds mcpfleetd, the admin client mcpfleetctl and a hardened
systemd unit running as the mcpfleet user on /var/lib/mcpfleet, which is
not enabled until `mcpfleetd init` has run.")
# /etc/default/mcpfleetd is the one file in /etc.
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles "/etc/default/mcpfleetd\n")
set(CPACK_DEBIAN_MCPFLEETD_PACKAGE_CONTROL_EXTRA
  ${MF_DEBIAN}/mcpfleetd/postinst ${MF_DEBIAN}/mcpfleetd/prerm
  ${MF_DEBIAN}/mcpfleetd/postrm ${CMAKE_BINARY_DIR}/debian/conffiles)

set(CPACK_DEBIAN_MCPFLEET_PACKAGE_NAME mcpfleet)
set(CPACK_DEBIAN_MCPFLEET_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_MCPFLEET_PACKAGE_DEPENDS "${MF_DEB_LWS}, ${MF_DEB_CURL}")
set(CPACK_COMPONENT_MCPFLEET_DESCRIPTION
"keeps the MCP servers of every AI coding host in step
mcpfleet renders one catalogue of MCP servers into the configuration of
each AI coding host on a workstation (Claude Code, Codex, Cursor, VS Code,
Zed and others), in each host's own format and touching nothing else in
those files. Enrolled in an mcpfleetd fleet, its agent applies the fleet's
signed catalogue and runs fleet servers through an audited launcher.

This package holds mcpfleet and its systemd user units.")

include(CPack)
set(MCPFLEET_PACKAGES ON)
