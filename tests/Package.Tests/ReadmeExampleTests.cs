using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LargeFolios.Package.Tests;

/// <summary>
/// Every ```csharp example of the READMEs compiles, as written there, in a program that does
/// not allow unsafe code, with no warning, and runs to its end.
/// </summary>
public sealed class ReadmeExampleTests
{
    // Each example runs in well under a second; a shared, loaded machine gets a wide margin.
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string, int> Examples()
    {
        var data = new TheoryData<string, int>();
        foreach (string file in MarkdownExamples.Files)
        {
            foreach (MarkdownExample example in MarkdownExamples.Read(file))
                data.Add(example.File, example.Line);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void The_example_compiles_in_safe_code_and_runs(string file, int line)
    {
        MarkdownExample example = MarkdownExamples.Read(file).Single(e => e.Line == line);
        (byte[]? image, var diagnostics) = ExampleCompiler.Compile(example);
        Assert.True(image != null, $"{example} does not compile as a package user's program:\n{string.Join('\n', diagnostics)}");

        TextWriter console = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            ExampleCompiler.Run(image, Timeout);
        }
        finally
        {
            Console.SetOut(console);
        }
    }

    [Fact]
    public void Every_readme_of_a_package_has_an_example_with_its_using_lines()
    {
        foreach (string file in MarkdownExamples.Files)
        {
            var examples = MarkdownExamples.Read(file);
            Assert.True(examples.Count > 0, $"{file} has no ```csharp example");
            Assert.All(examples, e => Assert.StartsWith("using ", e.Code, StringComparison.Ordinal));
        }

        Assert.True(MarkdownExamples.Read("README.md").Count >= 4, "the repository README's allocator, pool, page-table and fault-path examples");
    }

    [Fact]
    public void A_pointer_in_an_example_is_refused_as_unsafe_code()
    {
        // What the page-table example did before its accessor was safe: a pointer in a program that allows no unsafe code.
        var example = new MarkdownExample("pointer.md", 1, """
            using LargeFolios.BuddyAllocator;

            using var arena = new Arena(4 << 20);
            byte* first = arena.Allocate(0).Address;
            """);
        (byte[]? image, var diagnostics) = ExampleCompiler.Compile(example);
        Assert.Null(image);
        Assert.Contains(diagnostics, d => d.StartsWith("pointer.md:4: CS0214", StringComparison.Ordinal));
    }

    [Fact]
    public void An_example_that_throws_fails_with_its_exception()
    {
        var example = new MarkdownExample("throws.md", 1, """
            using LargeFolios.BuddyAllocator;

            using var arena = new Arena(4 << 20);
            arena.Allocate(11);
            """);
        (byte[]? image, _) = ExampleCompiler.Compile(example);
        Assert.NotNull(image);
        Assert.Throws<ArgumentOutOfRangeException>(() => ExampleCompiler.Run(image, Timeout));
    }

    [Fact]
    public void An_example_that_does_not_end_fails_in_time()
    {
        var example = new MarkdownExample("hangs.md", 1, """
            using System.Threading;

            Thread.Sleep(10_000);
            """);
        (byte[]? image, _) = ExampleCompiler.Compile(example);
        Assert.NotNull(image);
        Assert.Throws<TimeoutException>(() => ExampleCompiler.Run(image, TimeSpan.FromSeconds(1)));
    }
}
