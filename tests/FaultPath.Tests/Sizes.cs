namespace LargeFolios.FaultPath.Tests;

/// <summary>Sizes and addresses the fault-path tests share.</summary>
internal static class Sizes
{
    public const long MiB = 1L << 20;
    public const ulong Page = 4096;
    public const ulong Pmd = 2UL << 20;

    /// <summary>A 1 GiB aligned user address, as the scenarios use.</summary>
    public const ulong Base = 0x4000_0000;
}
