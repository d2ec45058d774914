using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// Tests that open an EventPipe session on this process. They run alone, after the parallel
/// tests: a session sees every arena's events, and a session's start and stop must not race
/// another's on the same process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReportEventPipeCollection : ICollectionFixture<ReportTraceFixture>
{
    public const string Name = "EventPipe";
}
