# SPDX-License-Identifier: MIT
# Run at install time (install(CODE) in scripts/packaging.cmake), when the
# prefix is known: `cmake --install` and the Debian packages install to
# different ones (/usr/local, /usr), and the units name the programs'
# absolute path. Fills in deploy/systemd/*.in and installs them:
#   MF_SRC    deploy/systemd
#   MF_OUT    a build-tree directory for the filled-in units
#   MF_KIND   system (mcpfleetd.service, /etc/default/mcpfleetd) or user
# Debian 12 keeps system units in /lib/systemd/system and user units in
# /usr/lib/systemd/user; under another prefix both go below it, where
# systemd also looks (/usr/local/lib/systemd/...).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(MF_SYSTEM_UNITS /lib/systemd/system)
  set(MCPFLEET_SYSCONFDIR /etc)
else()
  set(MF_SYSTEM_UNITS ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  set(MCPFLEET_SYSCONFDIR ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(MCPFLEET_BINDIR ${CMAKE_INSTALL_PREFIX}/bin)

function(mf_unit template dest)
  get_filename_component(name ${template} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  configure_file(${MF_SRC}/${template} ${MF_OUT}/${name} @ONLY)
  file(INSTALL ${MF_OUT}/${name} DESTINATION ${dest}
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endfunction()

if(MF_KIND STREQUAL "system")
  mf_unit(mcpfleetd.service.in ${MF_SYSTEM_UNITS})
  file(INSTALL ${MF_SRC}/mcpfleetd.default
    DESTINATION ${MCPFLEET_SYSCONFDIR}/default
    RENAME mcpfleetd
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
elseif(MF_KIND STREQUAL "user")
  set(user_units ${CMAKE_INSTALL_PREFIX}/lib/systemd/user)
  mf_unit(mcpfleet.service.in ${user_units})
  mf_unit(mcpfleet-sync.service.in ${user_units})
  mf_unit(mcpfleet-sync.path ${user_units})
else()
  message(FATAL_ERROR "install-units.cmake: MF_KIND is '${MF_KIND}', not system or user")
endif()
