using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using Microsoft.Diagnostics.NETCore.Client;

namespace LargeFolios.Folios.Tracing;

/// <summary>What a <c>folios trace</c> session collects and where it writes it.</summary>
/// <param name="OutputPath">The <c>.nettrace</c> file.</param>
/// <param name="Keywords">The subsystems to trace, translated to each provider's keywords by <see cref="TraceKeywords.ForProviders"/>.</param>
/// <param name="Level">The most verbose level to enable, the same for every provider.</param>
/// <param name="Stacks">Whether the runtime walks the stack for every event (dotnet-trace's default; about fifteen times the cost of an event).</param>
/// <param name="BufferMegabytes">The runtime's buffer for events not yet read; a full buffer drops events.</param>
internal sealed record TraceSettings(string OutputPath, TraceKeyword Keywords, EventLevel Level, bool Stacks, int BufferMegabytes)
{
    /// <summary>The providers the session enables, with their keywords.</summary>
    public IReadOnlyList<ProviderKeywords> Providers => TraceKeywords.ForProviders(Keywords);

    /// <summary>The session's configuration: the providers <see cref="Keywords"/> reaches, no rundown (nothing here needs the runtime's method names).</summary>
    public EventPipeSessionConfiguration ToConfiguration() => new(
        Providers.Select(provider => new EventPipeProvider(provider.Provider, Level, (long)provider.Keywords)).ToList(),
        BufferMegabytes,
        requestRundown: false,
        requestStackwalk: Stacks);
}
