namespace LargeFolios.PageTables;

/// <summary>Work a PMD split does under the PMD lock, before the new PTE table is published (see <see cref="PageTableTree.SplitPmdLeaf{THook}"/>).</summary>
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
