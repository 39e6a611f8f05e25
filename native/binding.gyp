{
  "targets": [
    {
      "target_name": "nimbus_native",
      "sources": ["src/addon.c", "src/mappings.c", "src/errors.c", "src/layout.c", "src/args.c", "src/socket.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
