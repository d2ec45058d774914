using LargeFolios.Folios.Kernel;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// A test that runs scenarios on the running kernel: skipped, with the reason, where the kernel side
/// cannot run (not Linux, no THP sysfs, not root, or no native helper because gcc was missing when
/// folios was built).
/// </summary>
public sealed class KernelFactAttribute : FactAttribute
{
    public KernelFactAttribute()
    {
        if (Unavailable is { } why)
            Skip = $"needs the kernel side: {why}";
    }

    /// <summary>Why the kernel side cannot run here; null when it can.</summary>
    public static string? Unavailable { get; } = new KernelScenarioRunner().WhyUnavailable();
}

/// <summary>A theory over kernel runs, skipped as <see cref="KernelFactAttribute"/> is.</summary>
public sealed class KernelTheoryAttribute : TheoryAttribute
{
    public KernelTheoryAttribute()
    {
        if (KernelFactAttribute.Unavailable is { } why)
            Skip = $"needs the kernel side: {why}";
    }
}
