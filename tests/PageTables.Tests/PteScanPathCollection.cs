using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Tests that set the process-wide <see cref="PteScan.ForcedPath"/>. They run on their own, after
/// every parallel collection, so no other test's scan through <see cref="PteScan"/> sees a path
/// pinned under it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PteScanPathCollection
{
    /// <summary>The collection's name, for <see cref="CollectionAttribute"/>.</summary>
    public const string Name = "PteScanPath";
}
