using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// Tests that open EventPipe sessions on this process or trace a child. They run alone, after the
/// parallel tests: an in-process session sees every arena's events.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TraceCollection
{
    public const string Name = "Trace";
}
