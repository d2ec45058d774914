using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Tests that open an EventPipe session on this process. They run alone, after the parallel
/// tests: a session sees every arena's events, and a test counts its own arena's exactly.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EventPipeCollection
{
    public const string Name = "EventPipe";
}
