using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using System.Reflection;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// What the three layers' providers promise their readers: each event's payload fields are named by
/// its provider's <c>Fields</c> constants (the names a reader compiles against), its id is the
/// <c>EventIds</c> constant of its name, its keywords are the provider's, and the manifest that ETW
/// and EventPipe describe it with builds.
/// </summary>
public sealed class EventProviderContractTests
{
    public static TheoryData<Type> Providers() => new() { typeof(AllocatorEventSource), typeof(PageTableEventSource), typeof(FaultPathEventSource) };

    [Theory]
    [MemberData(nameof(Providers))]
    public void Every_field_is_a_declared_name_and_every_declared_name_is_a_field(Type provider)
    {
        HashSet<string> declared = Constants<string>(provider, "Fields").Values.ToHashSet();
        var used = new HashSet<string>();
        foreach (MethodInfo e in Events(provider))
        {
            foreach (ParameterInfo parameter in e.GetParameters())
            {
                Assert.True(declared.Contains(parameter.Name!), $"{provider.Name}.{e.Name} writes a field {parameter.Name} that {provider.Name}.Fields does not name");
                used.Add(parameter.Name!);
            }
        }

        Assert.Empty(declared.Except(used));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public void Every_event_has_the_id_of_its_name_and_the_providers_keywords(Type provider)
    {
        Dictionary<string, int> ids = Constants<int>(provider, "EventIds");
        var all = (EventKeywords)provider.GetField("AllKeywords")!.GetRawConstantValue()!;
        EventKeywords keywords = Constants<EventKeywords>(provider, "Keywords").Values.Aggregate((a, b) => a | b);
        Assert.Equal(all, keywords);
        foreach (MethodInfo e in Events(provider))
        {
            EventAttribute attribute = e.GetCustomAttribute<EventAttribute>()!;
            Assert.Equal(ids[e.Name], attribute.EventId);
            Assert.True(attribute.Keywords != 0 && (attribute.Keywords & ~all) == 0, $"{e.Name}'s keywords are not the provider's");
        }

        Assert.Equal(ids.Count, Events(provider).Count());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public void The_manifest_builds(Type provider)
    {
        string? manifest = EventSource.GenerateManifest(provider, provider.Assembly.Location, EventManifestOptions.Strict);
        Assert.NotNull(manifest);
        Assert.Contains($"name=\"{provider.GetField("ProviderName")!.GetRawConstantValue()}\"", manifest, StringComparison.Ordinal);
    }

    [Fact]
    public void The_providers_have_names_and_guids_of_their_own()
    {
        EventSource[] sources = [AllocatorEventSource.Log, PageTableEventSource.Log, FaultPathEventSource.Log];
        Assert.Equal(3, sources.Select(s => s.Name).Distinct().Count());
        Assert.Equal(3, sources.Select(s => s.Guid).Distinct().Count());
        Assert.All(sources, s => Assert.Equal(EventSource.GetGuid(s.GetType()), s.Guid));
    }

    private static IEnumerable<MethodInfo> Events(Type provider) =>
        provider.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttribute<EventAttribute>() != null);

    private static Dictionary<string, T> Constants<T>(Type provider, string nested) =>
        provider.GetNestedType(nested)!.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .ToDictionary(f => f.Name, f => (T)f.GetRawConstantValue()!);
}
