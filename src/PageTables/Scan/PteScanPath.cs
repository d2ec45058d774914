namespace LargeFolios.PageTables;

/// <summary>
/// Which implementation of the all-PTEs-none scan <see cref="PteScan"/> runs. The paths exist side
/// by side so that a benchmark or a bug report can pin one (a wrong answer on one CPU must be
/// reproducible on another), not because callers should choose: <see cref="Auto"/> is right for
/// everything else.
/// </summary>
public enum PteScanPath
{
    /// <summary>The widest vector width the CPU accelerates and the input fills, as dotnet/runtime's span helpers choose.</summary>
    Auto,

    /// <summary>One entry at a time: the reference the vector paths are measured and tested against.</summary>
    Scalar,

    /// <summary>Two entries per compare (SSE2 / AdvSimd); inputs of one entry go to <see cref="Scalar"/>.</summary>
    Vector128,

    /// <summary>Four entries per compare (AVX2); shorter inputs go to <see cref="Vector128"/>.</summary>
    Vector256,

    /// <summary>Eight entries per compare (AVX-512), four vectors per loop step; shorter inputs go to <see cref="Vector256"/>.</summary>
    Vector512,
}
