using System.Runtime.CompilerServices;

// Locals and stackalloc buffers are always written before they are read here; zeroing them is
// wasted work on the allocation fast path (dotnet/runtime builds CoreLib the same way).
[module: SkipLocalsInit]
