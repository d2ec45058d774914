using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using System.Reflection;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The library's three providers as the reader knows them: their names, lowest layer first, the
/// names of their events by id (ids are unique only within a provider: both the allocator and the
/// fault path have a FolioSplitRefused, 11), and the <c>--providers</c> argument that collects all of them.
/// </summary>
internal static class TraceProviders
{
    /// <summary>The providers' names, lowest layer first.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [AllocatorEventSource.ProviderName, PageTableEventSource.ProviderName, FaultPathEventSource.ProviderName];

    /// <summary>
    /// dotnet-trace's <c>--providers</c> for every keyword of every provider at Verbose:
    /// <c>LargeFolios-Allocator:0x7:5,LargeFolios-PageTables:0x1:5,LargeFolios-FaultPath:0x7:5</c>.
    /// </summary>
    public static string DotnetTraceArgument { get; } = string.Join(",",
        Argument(AllocatorEventSource.ProviderName, AllocatorEventSource.AllKeywords),
        Argument(PageTableEventSource.ProviderName, PageTableEventSource.AllKeywords),
        Argument(FaultPathEventSource.ProviderName, FaultPathEventSource.AllKeywords));

    // The providers' own names for their ids, from the constants they write with.
    private static readonly Dictionary<(string Provider, int Id), string> s_eventNames = new[]
        {
            (Provider: AllocatorEventSource.ProviderName, Ids: typeof(AllocatorEventSource.EventIds)),
            (Provider: PageTableEventSource.ProviderName, Ids: typeof(PageTableEventSource.EventIds)),
            (Provider: FaultPathEventSource.ProviderName, Ids: typeof(FaultPathEventSource.EventIds)),
        }
        .SelectMany(provider => provider.Ids.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(field => field.IsLiteral && field.FieldType == typeof(int))
            .Select(field => (Key: (provider.Provider, (int)field.GetRawConstantValue()!), field.Name)))
        .ToDictionary(entry => entry.Key, entry => entry.Name);

    /// <summary>Whether <paramref name="provider"/> is one of the three.</summary>
    public static bool IsLibraryProvider(string provider) => Names.Contains(provider, StringComparer.Ordinal);

    /// <summary>The name <paramref name="provider"/> gives event <paramref name="id"/>, or null for an id this build does not know.</summary>
    public static string? EventName(string provider, int id) => s_eventNames.GetValueOrDefault((provider, id));

    private static string Argument(string provider, EventKeywords keywords) => $"{provider}:0x{(long)keywords:X}:5";
}
