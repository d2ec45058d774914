using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>Tests with an event listener: they run alone, as the provider is enabled for the whole process.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ListenerCollection
{
    public const string Name = "Listener";
}
