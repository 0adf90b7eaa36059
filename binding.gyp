{
  "targets": [
    {
      "target_name": "cover_torch",
      "sources": ["<!@(node scripts/gypConfig.js sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/gypConfig.js include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
        "_GLIBCXX_USE_CXX11_ABI=1",
        "<!@(node scripts/gypConfig.js defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-fopenmp-simd", "-fno-trapping-math"],
      "libraries": ["<!@(node scripts/gypConfig.js libraries)"],
      "ldflags": ["<!@(node scripts/gypConfig.js ldflags)"]
    }
  ]
}
