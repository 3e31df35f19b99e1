# Runs inside `cmake --install` (included by provider/CMakeLists.txt).
#
# Our module's file name, pkcs11prov.so, is also the name of libp11's own
# provider (libp11 >= 0.4.14, Debian's libengine-pkcs11-openssl), and the
# curl link's name, pkcs11.so, is the name of latchset/pkcs11-provider's
# module. install() would overwrite either without a word, so before
# anything is installed, each destination must be empty or hold a file of
# ours: a file containing the marker string compiled into our module
# (provider/install_marker.c), or the very symlink we create.
#
# Paths are computed here, at install time, so that `--prefix` and DESTDIR
# given to `cmake --install` apply. A relative directory is relative to the
# install prefix, as in install(DESTINATION).

function(p11prov_install_path out dir)
  if(NOT IS_ABSOLUTE "${dir}")
    set(dir "${CMAKE_INSTALL_PREFIX}/${dir}")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

# The symlink text that makes CURL_DIR/pkcs11.so point at our module:
# relative, so that it still resolves after DESTDIR staging is packaged.
function(p11prov_link_target out module_dir curl_dir)
  p11prov_install_path(module_dir "${module_dir}")
  p11prov_install_path(curl_dir "${curl_dir}")
  file(RELATIVE_PATH target "${curl_dir}" "${module_dir}/pkcs11prov.so")
  set(${out} "${target}" PARENT_SCOPE)
endfunction()

# out = "" when PATH (staged, DESTDIR included) is free or ours, else why not.
function(p11prov_foreign_reason out path marker link_target)
  set(reason "")
  if(IS_SYMLINK "${path}")
    file(READ_SYMLINK "${path}" text)
    if(text STREQUAL link_target)
      # The link we create.
    elseif(NOT EXISTS "${path}" OR IS_DIRECTORY "${path}")
      set(reason "it is a symlink to ${text}")
    else()
      file(STRINGS "${path}" found REGEX "${marker}" LIMIT_COUNT 1)
      if(NOT found)
        set(reason "it is a symlink to ${text}, which lacks our marker string")
      endif()
    endif()
  elseif(IS_DIRECTORY "${path}")
    set(reason "it is a directory")
  elseif(EXISTS "${path}")
    file(STRINGS "${path}" found REGEX "${marker}" LIMIT_COUNT 1)
    if(NOT found)
      set(reason "it is not a pkcs11prov of this project (it lacks our marker string)")
    endif()
  endif()
  set(${out} "${reason}" PARENT_SCOPE)
endfunction()

# "package P" when dpkg knows which package owns PATH on this system.
function(p11prov_owner out path)
  set(owner "")
  execute_process(COMMAND dpkg-query -S "${path}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE text ERROR_QUIET)
  if(rc EQUAL 0 AND text MATCHES "(^|\n)([^ :\n][^ \n]*): ")
    set(owner "${CMAKE_MATCH_2}")
  endif()
  set(${out} "${owner}" PARENT_SCOPE)
endfunction()

# Stops the install (or, with replace on, warns and removes the file) when
# PATH is foreign. what: "module" or "curl link", for the advice.
function(p11prov_guard path what marker link_target replace build)
  set(staged "$ENV{DESTDIR}${path}")
  p11prov_foreign_reason(reason "${staged}" "${marker}" "${link_target}")
  if(reason STREQUAL "")
    return()
  endif()
  p11prov_owner(owner "${path}")
  if(owner)
    set(whose "On this system dpkg says ${path} belongs to the package ${owner}.")
  else()
    set(whose "dpkg does not know a package that owns ${path}.")
  endif()
  if(what STREQUAL "module")
    set(known "libp11 >= 0.4.14 (Debian: libengine-pkcs11-openssl) installs its own, different provider under this name.")
    set(other "  - install ours into another directory and load it by its full path:
      cmake -DPKCS11PROV_INSTALL_DIR=/usr/local/lib/pkcs11prov ${build}
      cmake --install ${build}
    then in openssl.cnf:  module = /usr/local/lib/pkcs11prov/pkcs11prov.so
    or on the command line:  -provider-path /usr/local/lib/pkcs11prov -provider pkcs11prov")
  else()
    set(known "latchset/pkcs11-provider (Debian: pkcs11-provider) installs its module under this name.")
    set(other "  - put the curl link into another directory:
      cmake -DPKCS11PROV_CURL_DIR=<another dir> ${build}
      cmake --install ${build}
    then run curl with OPENSSL_MODULES=<another dir>")
  endif()
  if(replace)
    message(WARNING "pkcs11prov: replacing ${staged}: ${reason}. ${whose} "
            "PKCS11PROV_REPLACE_FOREIGN is on. The owner's next upgrade may "
            "put its file back.")
    file(REMOVE "${staged}")
    return()
  endif()
  message(FATAL_ERROR "pkcs11prov: will not overwrite ${staged}: ${reason}.
${whose}
${known}
Nothing was installed. Either
${other}
  - or replace that file on purpose:
      cmake -DPKCS11PROV_REPLACE_FOREIGN=ON ${build}   (or PKCS11PROV_REPLACE_FOREIGN=1 in the environment of cmake --install)
    (its package's next upgrade may put its file back)
")
endfunction()

# Checks both destinations before anything is installed, so a refusal
# leaves no half install behind.
function(p11prov_install_check module_dir curl_dir marker replace build)
  if(DEFINED ENV{PKCS11PROV_REPLACE_FOREIGN})
    set(replace "$ENV{PKCS11PROV_REPLACE_FOREIGN}")
  endif()
  p11prov_install_path(module_dir "${module_dir}")
  p11prov_install_path(curl_dir "${curl_dir}")
  p11prov_link_target(target "${module_dir}" "${curl_dir}")
  p11prov_guard("${module_dir}/pkcs11prov.so" module "${marker}" ""
                "${replace}" "${build}")
  p11prov_guard("${curl_dir}/pkcs11.so" "curl link" "${marker}" "${target}"
                "${replace}" "${build}")
endfunction()

# CURL_DIR/pkcs11.so -> our installed module, recorded in the manifest.
function(p11prov_install_curl_link module_dir curl_dir)
  p11prov_install_path(module_dir "${module_dir}")
  p11prov_install_path(curl_dir "${curl_dir}")
  p11prov_link_target(target "${module_dir}" "${curl_dir}")
  set(link "$ENV{DESTDIR}${curl_dir}/pkcs11.so")
  message(STATUS "Installing: ${link} -> ${target}")
  file(MAKE_DIRECTORY "$ENV{DESTDIR}${curl_dir}")
  file(REMOVE "${link}")
  file(CREATE_LINK "${target}" "${link}" SYMBOLIC)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${link}")
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()
