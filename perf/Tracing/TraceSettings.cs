using System.Collections.Generic;
using System.Diagnostics.Tracing;
using LargeFolios.BuddyAllocator;
using Microsoft.Diagnostics.NETCore.Client;

namespace LargeFolios.Folios.Tracing;

/// <summary>What a <c>folios trace</c> session collects and where it writes it.</summary>
/// <param name="OutputPath">The <c>.nettrace</c> file.</param>
/// <param name="Keywords">The provider's keywords to enable.</param>
/// <param name="Level">The most verbose level to enable.</param>
/// <param name="Stacks">Whether the runtime walks the stack for every event (dotnet-trace's default; about fifteen times the cost of an event).</param>
/// <param name="BufferMegabytes">The runtime's buffer for events not yet read; a full buffer drops events.</param>
internal sealed record TraceSettings(string OutputPath, EventKeywords Keywords, EventLevel Level, bool Stacks, int BufferMegabytes)
{
    /// <summary>The session's configuration: the one provider, no rundown (nothing here needs the runtime's method names).</summary>
    public EventPipeSessionConfiguration ToConfiguration() => new(
        new List<EventPipeProvider> { new(LargeFoliosEventSource.ProviderName, Level, (long)Keywords) },
        BufferMegabytes,
        requestRundown: false,
        requestStackwalk: Stacks);
}
