using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.Package.Tests;

/// <summary>The shape of the API a package user sees: .NET's conventions, and pointers only where native memory is the point.</summary>
public sealed class PublicApiShapeTests
{
    private static readonly Assembly[] Libraries = [typeof(Arena).Assembly, typeof(PageTableTree).Assembly, typeof(Machine).Assembly];

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    [Fact]
    public void Every_Try_method_takes_its_out_parameters_last()
    {
        var misshapen = new List<string>();
        foreach (Assembly assembly in Libraries.Append(Assembly.Load("folios")))          // the tool too: its Try methods are internal
        {
            foreach (MethodBase method in assembly.GetTypes().SelectMany(t => t.GetMethods(Declared).Cast<MethodBase>()))
            {
                if (!method.Name.StartsWith("Try", StringComparison.Ordinal) || method.IsDefined(typeof(CompilerGeneratedAttribute)))
                    continue;
                ParameterInfo[] parameters = method.GetParameters();
                int firstOut = Array.FindIndex(parameters, p => p.IsOut);
                if (firstOut >= 0 && parameters.Skip(firstOut).Any(p => !p.IsOut))
                    misshapen.Add($"{method.DeclaringType}.{method.Name}({string.Join(", ", parameters.Select(p => (p.IsOut ? "out " : string.Empty) + p.Name))})");
            }
        }

        Assert.Empty(misshapen);
    }

    [Fact]
    public void The_page_tables_and_the_fault_path_expose_no_pointer()
    {
        Assert.Empty(PointerMembers(typeof(PageTableTree).Assembly));
        Assert.Empty(PointerMembers(typeof(Machine).Assembly));
    }

    [Fact]
    public void The_allocators_only_pointers_are_its_native_addresses()
    {
        // An allocator of native memory hands out addresses; safe code has Folio.AsSpan, ArenaMemoryPool and the PFN lookups.
        Assert.Equal(
            [
                "Arena.AddressToPfn(Void*)", "Arena.BaseAddress", "Arena.FolioAt(Void*)", "Arena.Free(Void*)",
                "Arena.PfnToAddress(UInt32)", "Arena.get_BaseAddress()", "Folio.Address", "Folio.get_Address()",
            ],
            PointerMembers(typeof(Arena).Assembly).Order(StringComparer.Ordinal));
    }

    /// <summary>Public and protected members of public types whose signature holds a pointer.</summary>
    private static List<string> PointerMembers(Assembly assembly)
    {
        static bool HasPointer(Type type) => type.IsPointer || type.IsFunctionPointer || (type.HasElementType && HasPointer(type.GetElementType()!));

        var found = new List<string>();
        foreach (Type type in assembly.GetExportedTypes())
        {
            foreach (MemberInfo member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                bool pointer = member switch
                {
                    MethodBase method => (method is MethodInfo m && HasPointer(m.ReturnType)) || method.GetParameters().Any(p => HasPointer(p.ParameterType)),
                    PropertyInfo property => HasPointer(property.PropertyType),
                    FieldInfo field => HasPointer(field.FieldType),
                    _ => false,
                };
                if (pointer)
                    found.Add(member is MethodBase mb ? $"{type.Name}.{mb.Name}({string.Join(", ", mb.GetParameters().Select(p => p.ParameterType.Name))})" : $"{type.Name}.{member.Name}");
            }
        }

        return found;
    }
}
