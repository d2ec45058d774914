using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Runtime.Loader;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LargeFolios.Package.Tests;

/// <summary>
/// Compiles an example as a package user's program would be: a file of top-level statements on
/// its own (no implicit usings: the example brings its own), nullable annotations on, unsafe code
/// not allowed, against the .NET runtime and the three library assemblies alone (never their
/// internals, never the tool).
/// </summary>
public static class ExampleCompiler
{
    private static readonly ImmutableArray<MetadataReference> References = LoadReferences();

    /// <summary>The example compiled to an assembly image, or the diagnostics (warnings included) that stopped it, each at its README line.</summary>
    public static (byte[]? Image, List<string> Diagnostics) Compile(MarkdownExample example)
    {
        SyntaxTree tree = CSharpSyntaxTree.ParseText(example.Code, new CSharpParseOptions(LanguageVersion.Latest), path: example.File);
        var compilation = CSharpCompilation.Create(
            "ReadmeExample",
            [tree],
            References,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, allowUnsafe: false, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        List<string> diagnostics = result.Diagnostics
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Select(d => $"{example.File}:{example.Line + d.Location.GetLineSpan().StartLinePosition.Line}: {d.Id} {d.GetMessage()}")
            .ToList();
        return (result.Success && diagnostics.Count == 0 ? image.ToArray() : null, diagnostics);
    }

    /// <summary>
    /// Runs a compiled example's entry point in a load context of its own, awaiting it when it is
    /// async; an example that does not end within <paramref name="timeout"/> (a pipe that waits for
    /// a reader that never comes) is a <see cref="TimeoutException"/>, not a hung test run.
    /// </summary>
    public static void Run(byte[] image, TimeSpan timeout)
    {
        var context = new AssemblyLoadContext("ReadmeExample", isCollectible: true);
        Assembly assembly = context.LoadFromStream(new MemoryStream(image));
        MethodInfo entry = assembly.EntryPoint ?? throw new InvalidOperationException("The example has no entry point.");
        object?[] arguments = entry.GetParameters().Length == 0 ? [] : [Array.Empty<string>()];
        Task run = Task.Factory.StartNew(
            () =>
            {
                object? returned;
                try
                {
                    returned = entry.Invoke(null, arguments);
                }
                catch (TargetInvocationException e) when (e.InnerException != null)
                {
                    ExceptionDispatchInfo.Throw(e.InnerException);
                    throw;
                }

                (returned as Task)?.GetAwaiter().GetResult();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        if (Task.WhenAny(run, Task.Delay(timeout)).GetAwaiter().GetResult() != run)
            throw new TimeoutException($"The example did not finish within {timeout.TotalSeconds} s.");

        // A context still running code cannot unload; one that finished can.
        context.Unload();
        run.GetAwaiter().GetResult();
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The runtime's own assemblies (what a net10.0 console app references), then the packages'.
        string runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        IEnumerable<string> framework = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(path => Path.GetDirectoryName(path) == runtime);
        IEnumerable<string> libraries = new[] { typeof(Arena), typeof(PageTableTree), typeof(Machine) }.Select(t => t.Assembly.Location);
        return [.. framework.Concat(libraries).Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))];
    }
}
