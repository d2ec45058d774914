using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The contract between the layers, as the compiled assemblies show it: dependencies point one way
/// (BuddyAllocator, PageTables, FaultPath), internals are granted only to the layers above and to a
/// layer's own tests, and what a layer above uses of a lower layer's internals is exactly what that
/// layer marks as its interface (<see cref="LayerInterfaceAttribute"/>), no more and no less.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Buddy = typeof(Arena).Assembly;
    private static readonly Assembly Tables = typeof(PageTableTree).Assembly;
    private static readonly Assembly Faults = typeof(Machine).Assembly;

    [Fact]
    public void Dependencies_point_one_way()
    {
        Assert.Empty(OurReferences(Buddy));
        Assert.Equal(["LargeFolios.BuddyAllocator"], OurReferences(Tables));
        Assert.Equal(["LargeFolios.BuddyAllocator", "LargeFolios.PageTables"], OurReferences(Faults));
    }

    [Fact]
    public void Internals_are_granted_to_the_layers_above_and_to_the_layers_own_tests()
    {
        Assert.Equal(["LargeFolios.BuddyAllocator.Tests", "LargeFolios.FaultPath", "LargeFolios.PageTables"], Grants(Buddy));
        Assert.Equal(["LargeFolios.FaultPath", "LargeFolios.PageTables.Tests"], Grants(Tables));
        Assert.Equal(["LargeFolios.FaultPath.Tests"], Grants(Faults));
    }

    [Fact]
    public void Every_internal_a_layer_above_uses_is_part_of_the_lower_layers_interface()
    {
        var unmarked = new List<string>();
        foreach (Assembly upper in new[] { Tables, Faults })
        {
            foreach (MemberInfo used in InternalsUsedBy(upper))
            {
                if (!IsMarked(used))
                    unmarked.Add($"{upper.GetName().Name} uses {Describe(used)}, which is not marked [LayerInterface]");
            }
        }

        Assert.Empty(unmarked);
    }

    [Fact]
    public void Every_member_marked_as_a_layers_interface_is_used_by_a_layer_above()
    {
        HashSet<MemberInfo> used = [.. InternalsUsedBy(Tables), .. InternalsUsedBy(Faults)];
        var stale = Marked(Buddy).Concat(Marked(Tables))
            .Where(member => !used.Contains(member) && !(member is Type type && used.Any(u => u.DeclaringType == type)))
            .Select(Describe)
            .ToList();
        Assert.Empty(stale);
    }

    /// <summary>Every non-public type and member of the lower layers that <paramref name="upper"/>'s code refers to.</summary>
    private static HashSet<MemberInfo> InternalsUsedBy(Assembly upper)
    {
        using var pe = new PEReader(File.OpenRead(upper.Location));
        MetadataReader metadata = pe.GetMetadataReader();
        Module module = upper.ManifestModule;
        var found = new HashSet<MemberInfo>();
        foreach (TypeReferenceHandle handle in metadata.TypeReferences)
        {
            Type? type = Resolve(() => module.ResolveType(MetadataTokens.GetToken(handle)));
            if (type != null && IsLowerLayer(type.Assembly, upper) && !IsVisible(type))
                found.Add(type);
        }

        foreach (MemberReferenceHandle handle in metadata.MemberReferences)
        {
            MemberInfo? member = Resolve(() => module.ResolveMember(MetadataTokens.GetToken(handle)));
            if (member?.DeclaringType is not { } declaring || !IsLowerLayer(declaring.Assembly, upper))
                continue;
            if (member is MethodBase { IsSpecialName: true } accessor && PropertyOf(accessor) is { } property)
                member = property;
            if (!IsVisible(member))
                found.Add(member);
        }

        return found;
    }

    private static T? Resolve<T>(Func<T?> resolve)
        where T : class
    {
        try
        {
            return resolve();
        }
        catch (ArgumentException)
        {
            return null;   // a reference into an assembly outside the layers (the runtime's generic instantiations)
        }
    }

    private static bool IsLowerLayer(Assembly assembly, Assembly upper) =>
        assembly != upper && (assembly == Buddy || assembly == Tables);

    private static bool IsVisible(MemberInfo member) => member switch
    {
        Type type => type.IsPublic || (type.IsNestedPublic && IsVisible(type.DeclaringType!)),
        MethodBase method => method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly,
        FieldInfo field => field.IsPublic || field.IsFamily || field.IsFamilyOrAssembly,
        PropertyInfo property => property.GetAccessors(nonPublic: true).Any(a => a.IsPublic),
        _ => true,
    };

    private static PropertyInfo? PropertyOf(MethodBase accessor) =>
        accessor.DeclaringType!.GetProperties(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
            .FirstOrDefault(p => p.GetMethod == accessor || p.SetMethod == accessor);

    private static bool IsMarked(MemberInfo member) =>
        member.IsDefined(typeof(LayerInterfaceAttribute), inherit: false)
        || (member.DeclaringType is { } type && type.IsDefined(typeof(LayerInterfaceAttribute), inherit: false));

    private static IEnumerable<MemberInfo> Marked(Assembly assembly)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (Type type in assembly.GetTypes())
        {
            if (type.IsDefined(typeof(LayerInterfaceAttribute), inherit: false))
                yield return type;
            foreach (MemberInfo member in type.GetMembers(All).Where(m => m.IsDefined(typeof(LayerInterfaceAttribute), inherit: false)))
                yield return member;
        }
    }

    private static string Describe(MemberInfo member) => member is Type type ? $"type {type.FullName}" : $"{member.DeclaringType!.FullName}.{member.Name}";

    private static List<string> OurReferences(Assembly assembly) =>
        assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("LargeFolios.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

    private static List<string> Grants(Assembly assembly) =>
        assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order(StringComparer.Ordinal).ToList();
}
