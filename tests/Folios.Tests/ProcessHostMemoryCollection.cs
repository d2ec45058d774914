using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// Tests that lower the process's host-memory bound (<c>FOLIOS_HOST_MEMORY</c>, which sets
/// <see cref="BuddyAllocator.HostMemory.Process"/>): run alone, after the parallel tests, so no other
/// test's arena meets a bound set for one of these.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessHostMemoryCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "process host-memory bound";
}
