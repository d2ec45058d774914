using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>Every VMA of a set: to prove an operation that threw changed nothing.</summary>
internal sealed class VmaSnapshot
{
    private readonly Vma[] _vmas;

    private VmaSnapshot(VmaSet set) => _vmas = VmaTestHelpers.All(set);

    public static VmaSnapshot Take(VmaSet set) => new(set);

    /// <summary>Asserts the set holds exactly the VMAs it held, and is still valid.</summary>
    public void AssertUnchanged(VmaSet set)
    {
        Assert.Equal(_vmas, VmaTestHelpers.All(set));
        set.Validate();
    }
}
