using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>Work a PMD split does under the PMD lock, before the new PTE table is published (see <see cref="PageTableTree.SplitPmdLeaf{THook}"/>).</summary>
[LayerInterface]
internal interface IPmdSplitHook
{
    /// <summary>Called with the PMD lock held and the PTEs written; <paramref name="leaf"/> is the leaf being split.</summary>
    void BeforePublish(Pte leaf);
}

/// <summary>The hook that does nothing.</summary>
internal struct NoSplitHook : IPmdSplitHook
{
    public readonly void BeforePublish(Pte leaf)
    {
    }
}

/// <summary>Work a PMD leaf install does under the PMD lock, right after the leaf is written (see <see cref="PageTableTree.InstallPmdLeaf{THook}"/>).</summary>
[LayerInterface]
internal interface IPmdInstallHook
{
    /// <summary>Called with the PMD lock held and <paramref name="leaf"/> installed.</summary>
    void Installed(Pte leaf);
}

/// <summary>The install hook that does nothing.</summary>
[LayerInterface]
internal struct NoInstallHook : IPmdInstallHook
{
    public readonly void Installed(Pte leaf)
    {
    }
}
