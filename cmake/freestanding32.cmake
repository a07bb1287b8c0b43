# freestanding32.cmake - for a directory that builds 32-bit freestanding guests
# (tests/guests, tests/para, bench, bench/para): freestanding32_directory() drops, in
# the calling directory only, whatever the host project set for its own 64-bit code
# (flags of every build type, sanitizers, definitions, include paths, link options).
macro(freestanding32_directory)
  foreach(lang C ASM)
    set(CMAKE_${lang}_FLAGS "")
    foreach(cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
      set(CMAKE_${lang}_FLAGS_${cfg} "")
    endforeach()
  endforeach()
  set(CMAKE_EXE_LINKER_FLAGS "")
  foreach(cfg DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
    set(CMAKE_EXE_LINKER_FLAGS_${cfg} "")
  endforeach()
  set_property(DIRECTORY PROPERTY COMPILE_OPTIONS "")
  set_property(DIRECTORY PROPERTY COMPILE_DEFINITIONS "")
  set_property(DIRECTORY PROPERTY INCLUDE_DIRECTORIES "")
  set_property(DIRECTORY PROPERTY LINK_OPTIONS "")
endmacro()
