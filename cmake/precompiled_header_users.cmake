# Which translation units use the precompiled header (src/pch.h: <torch/torch.h>, spdlog).
#
# GCC loads a precompiled header of <torch/torch.h> in ~6 s, whatever the TU needs. A TU whose
# includes never reach a heavy LibTorch header compiles faster without it, so it is marked
# SKIP_PRECOMPILE_HEADERS. Heavy: anything under <torch/>, <ATen/ATen.h>, <ATen/autocast_mode.h>
# (each pulls most of ATen's operator declarations). The test follows `#include "..."` through
# the project's own headers (src/, tests/, the file's folder); system headers are not opened.
# Measured per TU, with and without the header, on the 2-core Intel Xeon (model 167):
# docs/development.md, "Build time".

set(ATTNLAB_HEAVY_INCLUDE_REGEX "^(torch/|ATen/ATen\\.h|ATen/autocast_mode\\.h)")

# Sets ${out} to TRUE when `file` or a project header it includes (transitively) includes a
# heavy header. Results are memoized in global properties; `visiting` breaks include cycles.
function(attnlab_reaches_heavy_header file out)
  get_property(known GLOBAL PROPERTY "ATTNLAB_HEAVY_${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "ATTNLAB_HEAVY_${file}")
    set(${out} ${value} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "ATTNLAB_HEAVY_${file}" FALSE)  # while visiting: a cycle is light
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(dir "${file}" DIRECTORY)
  set(result FALSE)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" name "${line}")
    if(name MATCHES "${ATTNLAB_HEAVY_INCLUDE_REGEX}")
      set(result TRUE)
      break()
    endif()
    if(line MATCHES "\"")
      foreach(base "${dir}" "${CMAKE_SOURCE_DIR}/src" "${CMAKE_SOURCE_DIR}/tests")
        if(EXISTS "${base}/${name}" AND NOT IS_DIRECTORY "${base}/${name}")
          get_filename_component(header "${base}/${name}" ABSOLUTE)
          attnlab_reaches_heavy_header("${header}" heavy)
          if(heavy)
            set(result TRUE)
          endif()
          break()
        endif()
      endforeach()
      if(result)
        break()
      endif()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "ATTNLAB_HEAVY_${file}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# Marks every light source of `sources` SKIP_PRECOMPILE_HEADERS.
function(attnlab_skip_pch_where_light sources)
  set(light "")
  foreach(source IN LISTS sources)
    attnlab_reaches_heavy_header("${source}" heavy)
    if(NOT heavy)
      set_source_files_properties("${source}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      list(APPEND light "${source}")
    endif()
  endforeach()
  list(LENGTH sources all_count)
  list(LENGTH light light_count)
  message(STATUS "attnlab: ${light_count} of ${all_count} sources compile without the precompiled header")
endfunction()
