# Install rules and the Debian package (CPack; `make deb`). Debian's layout: the binary in
# /usr/bin, units in /usr/lib/systemd/system (no "enable" on install: they need a config first),
# ptun(8) gzipped, bash completion, the annotated example configs in /usr/share/doc/ptun/examples
# (not conffiles in /etc: an example server.toml there would be started with placeholder
# certificates). /etc/ptun is created empty, mode 0700 (keys live there).
include(GNUInstallDirs)
# `cmake --install` / cpack install what was built; they do not rebuild every test program first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS ptun RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Units name the installed binary: written at install time, when the prefix is known (cpack
# installs with /usr, `cmake --install --prefix X` with X), not the configure-time default.
foreach(unit ptun-server.service ptun-client@.service)
  install(CODE "
    set(dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    file(READ \"${PROJECT_SOURCE_DIR}/packaging/systemd/${unit}.in\" text)
    string(REPLACE \"@PTUN_BIN@\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/ptun\" text \"\${text}\")
    file(MAKE_DIRECTORY \"\${dest}\")
    file(WRITE \"\${dest}/${unit}\" \"\${text}\")
    message(STATUS \"Installing: \${dest}/${unit}\")")
endforeach()

install(FILES "${PROJECT_SOURCE_DIR}/packaging/completion/ptun.bash" DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions"
        RENAME ptun)
file(GLOB example_configs "${PROJECT_SOURCE_DIR}/conf/*.toml")
install(FILES ${example_configs} DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install(FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
# /etc/ptun whatever the prefix: the units read their configs there
install(DIRECTORY DESTINATION /etc/ptun
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)

# ptun(8) from the binary's help: needs to run the binary (not in a cross build).
if(NOT CMAKE_CROSSCOMPILING)
  set(man "${CMAKE_BINARY_DIR}/packaging/ptun.8.gz")
  add_custom_command(OUTPUT "${man}"
    COMMAND bash "${PROJECT_SOURCE_DIR}/packaging/man/ptun-man.sh" "$<TARGET_FILE:ptun>" "${man}"
    DEPENDS ptun "${PROJECT_SOURCE_DIR}/packaging/man/ptun-man.sh"
    COMMENT "ptun(8) from ptun --help (help2man)" VERBATIM)
  add_custom_target(ptun_man ALL DEPENDS "${man}")
  install(FILES "${man}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man8")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ptun)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "ptun maintainers <ptun@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "DTLS packet tunnel (VPN) client and server")
set(CPACK_PACKAGE_DESCRIPTION "ptun is a single-binary VPN for Linux: DTLS 1.2 over UDP with mutual X.509
certificates, pushed network settings and roaming sessions. Includes systemd units
(ptun-server.service, ptun-client@.service), ptun(8) and bash completion.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)   # whatever CMAKE_INSTALL_PREFIX a build has
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# nft: run by ptun for masquerade, the kill switch and per-app rules
set(CPACK_DEBIAN_PACKAGE_DEPENDS "nftables")
# libcurl is loaded (dlopen) only by a server with [cluster]: not a dependency shlibdeps can see
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libcurl4, etcd-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/deb/postinst;${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
